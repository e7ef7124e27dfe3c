package cli

import (
	"os"
	"strings"
)

// readSecretEnv reads the value of each name of --secret-env from this
// process's environment. A value is never put in a message.
func readSecretEnv(names []string, plain map[string]string) (map[string]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(names))
	for _, name := range names {
		if k, _, isPair := strings.Cut(name, "="); isPair {
			return nil, userErr("export "+k+" in your shell, then pass --secret-env "+k+" (a value on the command line is seen by other users of this machine and kept in shell history)",
				"--secret-env takes a variable's name, not NAME=VALUE (%s=…)", k)
		}
		if name == "" {
			return nil, userErr("pass --secret-env NAME", "--secret-env needs a variable's name")
		}
		if _, both := plain[name]; both {
			return nil, userErr("pass it once: as --env or as --secret-env", "%s is given with --env and with --secret-env", name)
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return nil, userErr("export "+name+" in this shell first (or drop --secret-env "+name+")",
				"--secret-env %s: %s is not set in this environment", name, name)
		}
		out[name] = v
	}
	return out, nil
}

// maskedSecrets shows secret variables' names with their values hidden:
// "API_KEY=****, DB_PASSWORD=****".
func maskedSecrets(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=****"
	}
	return strings.Join(parts, ", ")
}
