// Command surveyonly runs inspector.Survey on a root and prints only the
// counts, so that the survey benchmark times the survey and not the JSON
// rendering of its result (wright survey adds that).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/edgewright/edgewright/inspector"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: surveyonly ROOT")
		os.Exit(2)
	}
	fp, err := inspector.Survey(context.Background(), inspector.Options{Root: os.Args[1]})
	if err != nil {
		fmt.Fprintln(os.Stderr, "surveyonly:", err)
		os.Exit(1)
	}
	fmt.Printf("volumes=%d blobs=%d diagnostics=%d fingerprint=%s\n",
		len(fp.Volumes), len(fp.Blobs), len(fp.Diagnostics), fp.Fingerprint)
}
