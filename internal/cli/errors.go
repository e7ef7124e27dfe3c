package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/node"
)

// rgrid's exit codes, besides 0 and a failed script's own. 124, 125 and
// 137 are those of timeout(1), docker run and a SIGKILLed process, so that
// scripts written for those read rgrid the same way.
const (
	exitUsage    = 2   // a bad command line, file or value, or input the server refused (4xx)
	exitTimedOut = 124 // the job hit its time limit
	exitPlatform = 125 // the platform failed: no server, a 5xx, or the job ended error or lost
	exitCanceled = 130 // the job was canceled, or rgrid was interrupted (128 + SIGINT)
	exitOOM      = 137 // the job ran out of memory (128 + SIGKILL)
)

// Error is a failure meant for the user: a message, a hint naming the fix,
// and the exit code.
type Error struct {
	Message string
	Hint    string
	Code    int
}

func (e *Error) Error() string { return e.Message }

// userErr is a usage error: the command line, a file or a value the user
// gave is wrong, and the same command will fail again.
func userErr(hint, format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...), Hint: hint, Code: exitUsage}
}

// platformErr is a failure of what rgrid runs on (a database, Docker, a
// port), not of what the user typed.
func platformErr(hint, format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...), Hint: hint, Code: exitPlatform}
}

// exitCode lets a command end the process with a given code and no message
// (rgrid run exits with the script's own code).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// exitStatus is rgrid's exit code for an error a command returned. The
// server's 4xx answers are the user's to fix (2); anything unforeseen is
// taken for a platform failure (125).
func exitStatus(err error) int {
	var code exitCode
	var ue *Error
	var ne *node.Error
	var ae *client.Error
	switch {
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &ue) && ue.Code != 0:
		return ue.Code
	case errors.As(err, &ne) && ne.Usage:
		return exitUsage
	case errors.As(err, &ae) && ae.Status/100 == 4:
		return exitUsage
	}
	return exitPlatform
}

const unreachableHint = `start it with "rgrid server" (or "rgrid dev"), or check --server / RGRID_SERVER`

// describe turns an error into the message and hint shown to the user.
func describe(err error) (msg, hint string) {
	var ue *Error
	var ne *node.Error
	var ae *client.Error
	var unreachable *client.UnreachableError
	switch {
	case errors.As(err, &ue):
		return ue.Message, ue.Hint
	case errors.As(err, &ne):
		return ne.Message, ne.Hint
	case errors.As(err, &ae):
		return ae.Message, ae.Hint
	case errors.As(err, &unreachable):
		if msg, hint, ok := certificateProblem(unreachable); ok {
			return msg, hint
		}
		return "cannot reach the rgrid server at " + unreachable.URL + ": " + rootCause(unreachable.Err), unreachableHint
	}
	return err.Error(), ""
}

// certificateProblem words a server certificate this machine refused:
// what is wrong with it and which setting fixes that.
func certificateProblem(e *client.UnreachableError) (msg, hint string, ok bool) {
	if !client.IsCertificateError(e.Err) {
		return "", "", false
	}
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	at := "the rgrid server at " + e.URL
	switch {
	case errors.As(e.Err, &unknown):
		return at + " has a certificate signed by a CA this machine does not trust",
			"pass --ca-cert FILE (or RGRID_CA_CERT, or ca-cert in the config file) with the PEM certificate of the CA that signed the server's (its operator has it); a --ca-cert given already is not that CA", true
	case errors.As(e.Err, &host):
		return at + " has a certificate for another name: " + strings.TrimPrefix(host.Error(), "x509: "),
			"use a name the certificate holds in --server (RGRID_SERVER), or have the server's certificate issued for " + host.Host, true
	case errors.As(e.Err, &invalid) && invalid.Reason == x509.Expired:
		return at + " has a certificate that has expired or is not valid yet: " + strings.TrimPrefix(invalid.Error(), "x509: "),
			"renew the server's certificate (rgrid server reads its --tls-cert again when the file changes), and check the clocks of both machines", true
	}
	return at + " has a certificate this machine refused: " + rootCause(e.Err),
		"check the server's --tls-cert and this machine's --ca-cert", true
}

// rootCause is what the innermost error says: "connection refused" rather
// than the transport's whole chain (Post "…": dial tcp …: connect: …).
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the connection closed before an answer"
	}
	return err.Error()
}

// printError writes err as "Error: …" and, if there is one, "Hint: …", one
// line each, in colour on a terminal that has not asked for none.
func printError(w io.Writer, err error) {
	writeError(w, err, colorFor(w, os.Getenv))
}

const (
	styleError = "\x1b[1;31m" // bold red
	styleHint  = "\x1b[36m"   // cyan
	styleBold  = "\x1b[1m"
	styleReset = "\x1b[0m"
)

func writeError(w io.Writer, err error, color bool) {
	msg, hint := describe(err)
	paint := func(style, s string) string {
		if !color || s == "" {
			return s
		}
		return style + s + styleReset
	}
	fmt.Fprintf(w, "%s %s\n", paint(styleError, "Error:"), paint(styleBold, oneLine(msg)))
	if hint != "" {
		fmt.Fprintf(w, "%s %s\n", paint(styleHint, "Hint:"), oneLine(hint))
	}
}

// oneLine joins the lines of a message (several refused requirements, say)
// so that an error stays one line.
func oneLine(s string) string {
	var parts []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}

// colorFor reports whether to colour what is written to w: only on a
// terminal, and neither with NO_COLOR set (https://no-color.org) nor
// with TERM=dumb.
func colorFor(w io.Writer, getenv func(string) string) bool {
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}

// flagError words pflag's refusals for people: an invalid value names the
// flag and what it takes, not the parser's error chain.
func flagError(c *cobra.Command, err error) error {
	msg, hint := err.Error(), fmt.Sprintf("run \"%s --help\" for usage", c.CommandPath())
	var ive *pflag.InvalidValueError
	if errors.As(err, &ive) {
		problem, how := valueProblem(ive.GetFlag(), errors.Unwrap(ive))
		msg = fmt.Sprintf("--%s %q: %s", ive.GetFlag().Name, ive.GetValue(), problem)
		if how != "" {
			hint = how
		}
	}
	return userErr(hint, "%s", msg)
}

// valueProblem says what is wrong with a value fl refused (cause is its
// Set's error) and, when there is more to say than the flag's type, how
// to write one.
func valueProblem(fl *pflag.Flag, cause error) (problem, how string) {
	if fl.Value.Type() == "size" && cause != nil {
		return cause.Error(), sizeHint // bytesize's own words: not a size, too large, …
	}
	return "not " + flagTypeName(fl.Value.Type()), ""
}

// configError words what config.Load and config.Apply refused: the file,
// key or variable, what is wrong, and what to write instead.
func configError(err error) error {
	var uk *config.UnknownKeyError
	var ve *config.ValueError
	switch {
	case errors.As(err, &uk):
		return userErr(uk.Hint(), "%v", uk)
	case errors.As(err, &ve):
		problem, how := valueProblem(ve.Flag, ve.Err)
		hint := ve.Fix()
		if how != "" {
			hint += ": " + how
		}
		return userErr(hint, "%s: %s", ve.Where(), problem)
	}
	return userErr("fix the file or point --config / RGRID_CONFIG at another one", "%v", err)
}

// settingNames are the names a config file may use: every command's
// flags, whichever command reads the file.
func settingNames(root *cobra.Command) []string {
	seen := map[string]bool{"help": true, "config": true}
	var names []string
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(fl *pflag.Flag) {
				if !seen[fl.Name] {
					seen[fl.Name] = true
					names = append(names, fl.Name)
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	slices.Sort(names)
	return names
}

func flagTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case t == "bool":
		return "true or false"
	case t == "duration":
		return "a duration like 90s or 10m"
	}
	return "a valid " + t
}

// usageError words an error cobra returned before any command ran: an
// unknown command or the wrong number of arguments. Flag errors arrive
// worded already (flagError).
func usageError(c *cobra.Command, args []string, err error) error {
	var ue *Error
	if errors.As(err, &ue) {
		return err
	}
	if c.HasParent() {
		return userErr(fmt.Sprintf("usage: %s (\"%s --help\" tells more)", c.UseLine(), c.CommandPath()), "%v", err)
	}
	// The root refuses only a command it does not know: the first
	// argument that is not one of its flags.
	hint := `"rgrid --help" lists the commands`
	if c.ParseFlags(args) == nil && c.Flags().NArg() > 0 {
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		if near := config.Nearest(c.Flags().Arg(0), names); near != "" {
			hint = fmt.Sprintf(`did you mean "rgrid %s"? %s`, near, hint)
		}
	}
	return userErr(hint, "%v", err)
}
