package chaos

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Sample is one reading of the soak.
type Sample struct {
	At         time.Duration // since the start
	RSS, Heap  uint64        // bytes
	Goroutines int
	Delivered  uint64 // messages delivered so far
	Reconnects int    // so far
	Lost       uint64 // lost with an abrupt close, so far
}

// Plot draws the soak's samples as a PNG: RSS and heap in the top panel,
// goroutines in the bottom one, over time, with a bar under both panels
// for the reconnects of each sample.
func Plot(w io.Writer, title string, samples []Sample) error {
	const (
		width, height = 1200, 640
		left, right   = 80, 20
		top           = 40
		panelH        = 250
		gap           = 50
	)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	if len(samples) < 2 {
		return png.Encode(w, img)
	}
	end := samples[len(samples)-1].At
	x := func(d time.Duration) int { return left + int(float64(width-left-right)*float64(d)/float64(end)) }
	label(img, left, 20, color.Black, title)
	const reconnectStrip = 16 // pixels of the tallest reconnect bar
	maxReconnects := 1
	for j := 1; j < len(samples); j++ {
		maxReconnects = max(maxReconnects, samples[j].Reconnects-samples[j-1].Reconnects)
	}

	type series struct {
		name  string
		c     color.Color
		value func(Sample) float64
	}
	panel := func(y0 int, unit string, ss []series) {
		hi := 0.0
		for _, s := range samples {
			for _, se := range ss {
				hi = math.Max(hi, se.value(s))
			}
		}
		hi = niceCeil(hi)
		y := func(v float64) int { return y0 + panelH - int(float64(panelH)*v/hi) }
		grey := color.RGBA{220, 220, 220, 255}
		for i := 0; i <= 4; i++ {
			v := hi * float64(i) / 4
			hline(img, left, width-right, y(v), grey)
			label(img, 4, y(v)+4, color.Black, fmt.Sprintf("%.4g %s", v, unit))
		}
		for i, se := range ss {
			label(img, left+10+i*200, y0-6, se.c, se.name)
			for j := 1; j < len(samples); j++ {
				line(img, x(samples[j-1].At), y(se.value(samples[j-1])), x(samples[j].At), y(se.value(samples[j])), se.c)
			}
		}
		// Reconnects: a red bar under the panel for each sample, as tall as
		// the reconnects in it, against the busiest sample.
		for j := 1; j < len(samples); j++ {
			if n := samples[j].Reconnects - samples[j-1].Reconnects; n > 0 {
				h := max(1, reconnectStrip*n/maxReconnects)
				vline(img, x(samples[j].At), y0+panelH+2, y0+panelH+1+h, color.RGBA{200, 0, 0, 255})
			}
		}
		hline(img, left, width-right, y0+panelH, color.Black)
	}
	const mib = 1 << 20
	panel(top+10, "MiB", []series{
		{"RSS (MiB)", color.RGBA{0, 90, 200, 255}, func(s Sample) float64 { return float64(s.RSS) / mib }},
		{"heap (MiB)", color.RGBA{0, 160, 80, 255}, func(s Sample) float64 { return float64(s.Heap) / mib }},
	})
	panel(top+10+panelH+gap, "", []series{
		{"goroutines", color.RGBA{120, 60, 160, 255}, func(s Sample) float64 { return float64(s.Goroutines) }},
	})
	for i := 0; i <= 6; i++ {
		d := end * time.Duration(i) / 6
		label(img, x(d)-20, height-8, color.Black, d.Round(time.Second).String())
	}
	label(img, width-560, height-24, color.RGBA{200, 0, 0, 255},
		fmt.Sprintf("red bars: reconnects per sample (tallest: %d)", maxReconnects))
	return png.Encode(w, img)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func label(img draw.Image, x, y int, c color.Color, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func hline(img draw.Image, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img draw.Image, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

// line draws a segment, Bresenham's way, two pixels thick.
func line(img draw.Image, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
