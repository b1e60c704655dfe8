package console

import "embed"

// uiFiles is the console page: plain HTML, CSS and JavaScript, nothing
// from another origin.
//
//go:embed ui
var uiFiles embed.FS
