package schedule

import (
	"math"
	"time"
)

// Polar says whether the sun rises and sets on a day.
type Polar int

const (
	// Normal days have a sunrise and a sunset.
	Normal Polar = iota
	// PolarDay: the sun stays above the horizon all day (midnight sun).
	PolarDay
	// PolarNight: the sun stays below the horizon all day.
	PolarNight
)

// String returns "normal", "polar day" or "polar night".
func (p Polar) String() string {
	switch p {
	case PolarDay:
		return "polar day"
	case PolarNight:
		return "polar night"
	}
	return "normal"
}

// SunDay is what the sun does on one local day at one place.
type SunDay struct {
	// Noon is the solar noon (transit) nearest to 12:00 local time.
	Noon time.Time
	// Rise and Set are the sunrise before and the sunset after Noon; they
	// are zero unless Polar is Normal. Near the polar circles Rise can fall
	// on the previous local date or Set on the next one.
	Rise, Set time.Time
	// Polar is Normal, PolarDay or PolarNight.
	Polar Polar
}

// zenith is the sun's zenith angle at sunrise and sunset: 90° plus 50′ for
// refraction (34′) and the sun's semi-diameter (16′), as in NOAA's calculator
// and the USNO almanacs.
const zenith = 90.833

// Sun computes sunrise, solar noon and sunset for the local date of day (its
// year, month and day in its own Location) at latitude lat and longitude lon
// (degrees, north and east positive), using NOAA's solar position equations
// (the "NOAA Solar Calculator" spreadsheet, after Meeus, Astronomical
// Algorithms), refined by re-evaluating the sun's position at each event.
// Accuracy is about a minute between ±72° latitude; closer to the poles,
// where the sun grazes the horizon, errors of several minutes are normal for
// every published table.
func Sun(day time.Time, lat, lon float64) SunDay {
	lat = math.Max(-89.99, math.Min(89.99, lat)) // the hour angle is undefined at a pole
	y, m, d := day.Date()
	localNoon := time.Date(y, m, d, 12, 0, 0, 0, day.Location())

	noon := transit(localNoon, lon)
	noon = transit(noon, lon) // the equation of time at the transit itself
	ha, polar := hourAngle(noon, lat)
	if polar != Normal {
		return SunDay{Noon: noon, Polar: polar}
	}
	event := func(sign float64) time.Time {
		t := noon.Add(minutes(sign * 4 * ha))
		for range 2 {
			h, p := hourAngle(t, lat)
			if p != Normal {
				break // keep the estimate; the sun is grazing the horizon
			}
			t = transitNear(t, noon, lon).Add(minutes(sign * 4 * h))
		}
		return t
	}
	return SunDay{Noon: noon, Rise: event(-1), Set: event(+1), Polar: Normal}
}

// transit returns the solar noon nearest to t, with the equation of time
// evaluated at t.
func transit(t time.Time, lon float64) time.Time {
	return transitNear(t, t, lon)
}

// transitNear returns the solar noon nearest to near, with the equation of
// time evaluated at at.
func transitNear(at, near time.Time, lon float64) time.Time {
	_, eqTime := solarPosition(at)
	u := near.UTC()
	midnight := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	n := midnight.Add(minutes(720 - 4*lon - eqTime))
	for n.Sub(near) > 12*time.Hour {
		n = n.Add(-24 * time.Hour)
	}
	for near.Sub(n) > 12*time.Hour {
		n = n.Add(24 * time.Hour)
	}
	return n
}

// hourAngle returns the sunrise hour angle in degrees at instant t.
func hourAngle(t time.Time, lat float64) (float64, Polar) {
	decl, _ := solarPosition(t)
	phi := rad(lat)
	cosH := math.Cos(rad(zenith))/(math.Cos(phi)*math.Cos(decl)) - math.Tan(phi)*math.Tan(decl)
	switch {
	case cosH > 1:
		return 0, PolarNight
	case cosH < -1:
		return 0, PolarDay
	}
	return deg(math.Acos(cosH)), Normal
}

// solarPosition returns the sun's declination (radians) and the equation of
// time (minutes) at instant t, per NOAA's spreadsheet formulas.
func solarPosition(t time.Time) (decl, eqTime float64) {
	jd := float64(t.Unix())/86400 + 2440587.5
	T := (jd - 2451545) / 36525 // Julian centuries since J2000.0

	L0 := math.Mod(280.46646+T*(36000.76983+T*0.0003032), 360) // geometric mean longitude
	M := 357.52911 + T*(35999.05029-0.0001537*T)               // mean anomaly
	e := 0.016708634 - T*(0.000042037+0.0000001267*T)          // orbit eccentricity
	C := math.Sin(rad(M))*(1.914602-T*(0.004817+0.000014*T)) +
		math.Sin(rad(2*M))*(0.019993-0.000101*T) +
		math.Sin(rad(3*M))*0.000289 // equation of the centre
	omega := 125.04 - 1934.136*T
	lambda := L0 + C - 0.00569 - 0.00478*math.Sin(rad(omega)) // apparent longitude
	eps0 := 23 + (26+(21.448-T*(46.815+T*(0.00059-T*0.001813)))/60)/60
	eps := eps0 + 0.00256*math.Cos(rad(omega)) // corrected obliquity

	decl = math.Asin(math.Sin(rad(eps)) * math.Sin(rad(lambda)))
	y := math.Tan(rad(eps/2)) * math.Tan(rad(eps/2))
	l0, m := rad(L0), rad(M)
	eqTime = 4 * deg(y*math.Sin(2*l0)-2*e*math.Sin(m)+4*e*y*math.Sin(m)*math.Cos(2*l0)-
		0.5*y*y*math.Sin(4*l0)-1.25*e*e*math.Sin(2*m))
	return decl, eqTime
}

func rad(d float64) float64 { return d * math.Pi / 180 }
func deg(r float64) float64 { return r * 180 / math.Pi }

func minutes(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }
