package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/edgewright/edgewright/architect"
)

func init() {
	commands["blueprint"] = command{
		summary: "draw the Blueprint of a controller config (binary or proto-JSON) as JSON",
		run:     runBlueprint,
	}
}

// runBlueprint prints the Blueprint of --config as JSON on stdout and every
// diagnostic on stderr. It exits 1 when the config has errors or cannot be
// read; the JSON is printed anyway when there is a Blueprint to print.
func runBlueprint(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("blueprint", "wright blueprint --config FILE", stdout, stderr)
	config := fs.String("config", "", "controller config `FILE` (EdgeDevConfig, binary protobuf or proto-JSON; - for stdin)")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *config == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: wright blueprint --config FILE")
		return exitUsage
	}
	data, err := readConfig(*config)
	if err != nil {
		fmt.Fprintf(stderr, "wright blueprint: read config: %v\n", err)
		return exitFailed
	}
	bp := architect.Load(data)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(bp); err != nil {
		fmt.Fprintf(stderr, "wright blueprint: encode blueprint: %v\n", err)
		return exitFailed
	}
	for _, d := range bp.Diagnostics {
		fmt.Fprintf(stderr, "%s: %s\n", *config, d)
	}
	if !bp.Valid() {
		if !bp.Complete {
			fmt.Fprintf(stderr, "wright blueprint: %s: the Blueprint is incomplete\n", *config)
		}
		return exitFailed
	}
	return exitOK
}
