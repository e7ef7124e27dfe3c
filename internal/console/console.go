// Package console holds the web console's pages and assets, embedded in
// the binary (no CDN, no build step): html/template pages the server fills
// in (internal/server/console.go) and a little JavaScript for the live
// parts, which calls the same JSON API and SSE stream as the CLI.
package console

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/money"
)

//go:embed assets/*.html assets/*.js assets/*.css
var assets embed.FS

// Pages are the console's templates, each a page of layout.html.
var Pages = template.Must(template.New("").Funcs(template.FuncMap{
	"size": func(n int64) string {
		if n <= 0 {
			return "the worker's default"
		}
		return bytesize.Format(n)
	},
	"bytes": bytesize.Format,
	// money writes an amount as "0.000166 EUR"; "—" for none.
	"money": func(v any) string {
		switch m := v.(type) {
		case client.Money:
			return money.Format(m.Micros) + " " + m.Currency
		case *client.Money:
			if m != nil {
				return money.Format(m.Micros) + " " + m.Currency
			}
		}
		return "—"
	},
	// seconds writes a run time in seconds as "1h 2m 3s".
	"seconds": func(s float64) string {
		return (time.Duration(s) * time.Second).Round(time.Second).String()
	},
	"since": func(v any) string {
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case *time.Time:
			if x != nil {
				t = *x
			}
		}
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
}).ParseFS(assets, "assets/*.html"))

// Static serves the scripts and style sheet under /console/.
func Static() http.Handler {
	sub, _ := fs.Sub(assets, "assets")
	return http.StripPrefix("/console/", http.FileServerFS(sub))
}
