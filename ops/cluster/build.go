package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries are the programs a cluster runs, by their file name in the bin
// folder, and what builds them: a package of the workspace, or (nats-server)
// the nats-server module version the ops module requires.
var Binaries = map[string]string{
	"gateway":     "./gateway/cmd/gateway",
	"validator":   "./validator/cmd/validator",
	"projector":   "./projector/cmd/projector",
	"nats-server": "github.com/nats-io/nats-server/v2",
}

// Build builds the Binaries into bin with the go command goBin (default
// "go"), from root, the repository (the folder of go.work).
func Build(ctx context.Context, goBin, root, bin string) error {
	if goBin == "" {
		goBin = "go"
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	var pkgs []string
	for name, pkg := range Binaries {
		if name != "nats-server" {
			pkgs = append(pkgs, pkg)
		}
	}
	run := func(dir string, args ...string) error {
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %w\n%s", goBin, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run(root, append([]string{"build", "-o", bin + "/"}, pkgs...)...); err != nil {
		return err
	}
	// From the ops module, which requires (and so pins) nats-server.
	return run(filepath.Join(root, "ops"), "build", "-o", filepath.Join(bin, "nats-server"), Binaries["nats-server"])
}

// Root finds the repository: the folder holding go.work, from dir upwards.
func Root(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work in %s or above", dir)
		}
	}
}
