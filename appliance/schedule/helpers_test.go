package schedule

import (
	"math"
	"time"
)

// altitude returns the geometric altitude of the sun's centre in degrees at
// instant t, from the U.S. Naval Observatory's "Approximate Solar
// Coordinates" (Astronomical Almanac, accurate to about 1′ in 1950–2050) and
// the sidereal time formula from the same source. It shares no code with
// sun.go.
func altitude(t time.Time, lat, lon float64) float64 {
	r := math.Pi / 180
	n := float64(t.UnixNano())/86400e9 + 2440587.5 - 2451545.0
	L := 280.460 + 0.9856474*n
	g := (357.528 + 0.9856003*n) * r
	lambda := (L + 1.915*math.Sin(g) + 0.020*math.Sin(2*g)) * r
	eps := (23.439 - 0.0000004*n) * r
	ra := math.Atan2(math.Cos(eps)*math.Sin(lambda), math.Cos(lambda))
	dec := math.Asin(math.Sin(eps) * math.Sin(lambda))
	gmst := math.Mod(18.697374558+24.06570982441908*n, 24)
	lha := gmst*15*r + lon*r - ra
	phi := lat * r
	return math.Asin(math.Sin(phi)*math.Sin(dec)+math.Cos(phi)*math.Cos(dec)*math.Cos(lha)) / r
}
