package hetzner

import (
	"fmt"
	"os"
	"strings"

	"github.com/rgrid/rgrid/internal/fleet"
)

// CloudInit is the user-data of a new server: it writes the worker's
// environment (its token, mode 0600) and a systemd unit, downloads the
// rgrid binary and checks its SHA-256, and starts the worker. The token is
// in the user-data only: never in a log, a label or the command line.
// Stopping the unit (SIGTERM) drains the worker: no timeout kills a job.
// The worker is priced at price (none when zero).
func CloudInit(p *fleet.Pool, spec fleet.MachineSpec, price fleet.Price) (string, error) {
	h := p.Hetzner
	args := fleet.WorkerArgs(p, spec.Name, h.ServerURL, h.Executor, price)
	env := "RGRID_TOKEN=" + spec.Token + "\nRGRID_DATA_DIR=/var/lib/rgrid\n"
	var files strings.Builder
	if h.CACertFile != "" {
		ca, err := os.ReadFile(h.CACertFile)
		if err != nil {
			return "", fmt.Errorf("pool %s: read ca_cert_file: %w", p.Name, err)
		}
		writeFile(&files, "/etc/rgrid/ca.pem", "0644", string(ca))
		args = append(args, "--ca-cert", "/etc/rgrid/ca.pem")
	}
	writeFile(&files, "/etc/rgrid/worker.env", "0600", env)
	writeFile(&files, "/etc/systemd/system/rgrid-worker.service", "0644", `[Unit]
Description=rgrid worker
After=network-online.target docker.service
Wants=network-online.target

[Service]
EnvironmentFile=/etc/rgrid/worker.env
ExecStart=/usr/local/bin/rgrid `+fleet.ShellQuote(args)+`
Restart=on-failure
RestartSec=5
KillSignal=SIGTERM
TimeoutStopSec=infinity

[Install]
WantedBy=multi-user.target
`)
	writeFile(&files, "/usr/local/lib/rgrid/install.sh", "0700", fmt.Sprintf(`#!/bin/sh
set -eu
curl -fsSL --retry 5 -o /usr/local/bin/rgrid.new %s
echo "%s  /usr/local/bin/rgrid.new" | sha256sum -c -
chmod 0755 /usr/local/bin/rgrid.new
mv /usr/local/bin/rgrid.new /usr/local/bin/rgrid
systemctl daemon-reload
systemctl enable --now rgrid-worker.service
`, fleet.ShellQuote([]string{h.BinaryURL}), strings.ToLower(h.BinarySHA256)))
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	if h.Executor == "docker" {
		b.WriteString("packages:\n  - docker.io\n")
	}
	b.WriteString("write_files:\n")
	b.WriteString(files.String())
	b.WriteString("runcmd:\n  - [/usr/local/lib/rgrid/install.sh]\n")
	return b.String(), nil
}

// writeFile adds one write_files entry, its content as a literal block.
func writeFile(b *strings.Builder, path, mode, content string) {
	fmt.Fprintf(b, "  - path: %s\n    permissions: '%s'\n    owner: root:root\n    content: |\n", path, mode)
	for _, line := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
}
