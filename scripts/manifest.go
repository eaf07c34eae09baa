package main

import (
	"fmt"
	"io"

	"gracefulshutdown.lab/scripts/internal/workspace"
)

// writeManifest records the lab's own files of every task as they are now.
// A maintainer runs it after changing a test; verify says when it is due.
func writeManifest(ws *workspace.Workspace, w io.Writer) error {
	m, err := ws.BuildManifest()
	if err != nil {
		return err
	}
	if err := ws.WriteManifest(m); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s records %d files of %d tasks\n", workspace.ManifestFile, len(m), len(ws.Present()))
	return nil
}
