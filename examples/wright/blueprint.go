package main

import (
	"encoding/json"
	"flag"
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
	fs := flag.NewFlagSet("blueprint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "controller config `FILE` (EdgeDevConfig, binary protobuf or proto-JSON; - for stdin)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *config == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: wright blueprint --config FILE")
		return 2
	}
	data, err := readConfig(*config)
	if err != nil {
		fmt.Fprintf(stderr, "wright blueprint: read config: %v\n", err)
		return 1
	}
	bp := architect.Load(data)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(bp); err != nil {
		fmt.Fprintf(stderr, "wright blueprint: encode blueprint: %v\n", err)
		return 1
	}
	for _, d := range bp.Diagnostics {
		fmt.Fprintf(stderr, "%s: %s\n", *config, d)
	}
	if !bp.Valid() {
		if !bp.Complete {
			fmt.Fprintf(stderr, "wright blueprint: %s: the Blueprint is incomplete\n", *config)
		}
		return 1
	}
	return 0
}
