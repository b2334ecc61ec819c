package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lapsebox/lapsebox/appliance/config"
)

// MetadataBytes is what the store adds to each capture besides the
// camera's files: the sidecar, an outbox entry per target, and each
// file's last block, rounded up to a 4 KiB block each.
const MetadataBytes = 12 << 10

// Sizes are the typical sizes of one camera model's files, at its
// largest, finest JPEG quality.
type Sizes struct {
	// Model names the camera the sizes are for ("Canon EOS 600D").
	Model    string
	JPG, RAW int64
}

// PerCapture is what one capture brings when keep says which files to
// keep.
func (s Sizes) PerCapture(keep config.Keep) int64 {
	switch keep {
	case config.KeepRAW:
		return s.RAW
	case config.KeepBoth:
		return s.RAW + s.JPG
	}
	return s.JPG
}

// typical are published figures for the cameras lapsebox is used with.
// Canon's 18 MP bodies (5184×3456): about 25 MB per CR2 and 6 MB per
// large fine JPEG; the JPEG figure is the one behind Webcampak's planning
// table (a JPEG every 10 minutes fills 320 GB in 370 days; RAW+JPG in
// 70). The 12 MP EOS 1100D: 4.4 MB and 16.7 MB (Canon's knowledge base).
// Aliases are matched as whole words, case-insensitively: a camera names
// itself "Canon EOS 600D"; a site configuration may say "T3i".
var typical = []struct {
	aliases []string
	sizes   Sizes
}{
	{[]string{"EOS 600D", "600D", "Rebel T3i", "T3i", "Kiss X5"}, Sizes{"Canon EOS 600D", 6_000_000, 25_000_000}},
	{[]string{"EOS 650D", "650D", "Rebel T4i", "T4i", "Kiss X6i"}, Sizes{"Canon EOS 650D", 6_000_000, 25_000_000}},
	{[]string{"EOS 1100D", "1100D", "Rebel T3", "T3", "Kiss X50"}, Sizes{"Canon EOS 1100D", 4_400_000, 16_700_000}},
}

// DefaultSizes is assumed for a camera of unknown model: an 18 MP DSLR,
// on the large side of today's bodies, so that autonomy is not
// overstated.
var DefaultSizes = Sizes{"an 18 MP DSLR", 6_000_000, 25_000_000}

// Typical returns the typical sizes of model, as the camera or a site
// configuration names it, and whether the model is known; an unknown one
// gets DefaultSizes.
func Typical(model string) (Sizes, bool) {
	words := strings.Fields(strings.ToLower(model))
	for _, t := range typical {
		for _, a := range t.aliases {
			if containsWords(words, strings.Fields(strings.ToLower(a))) {
				return t.sizes, true
			}
		}
	}
	return DefaultSizes, false
}

// containsWords reports whether sub appears in words as consecutive
// whole words.
func containsWords(words, sub []string) bool {
	for i := 0; i+len(sub) <= len(words); i++ {
		if slices.Equal(words[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// PictureSize is the expected size of the next capture: the median of
// recent captures' file bytes (newest last) when there are any, else the
// typical size of model for keep; MetadataBytes included. source says
// which it is, for a status page.
func PictureSize(recent []int64, model string, keep config.Keep) (bytes int64, source string) {
	if len(recent) > 0 {
		n := "picture"
		if len(recent) > 1 {
			n = fmt.Sprintf("%d pictures", len(recent))
		}
		return Median(recent) + MetadataBytes, "median of the last " + n
	}
	s, _ := Typical(model)
	if keep == "" {
		keep = config.KeepJPG
	}
	return s.PerCapture(keep) + MetadataBytes, fmt.Sprintf("typical for %s (%s)", s.Model, keep)
}

// Median returns the median of xs (the lower middle one for an even
// count), 0 for none.
func Median(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
