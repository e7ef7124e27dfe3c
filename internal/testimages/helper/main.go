// Command helper is the program inside the rgrid-test/helper image: one
// static binary whose subcommands each exercise one thing the docker
// executor must allow or prevent (output, exit codes, memory, processes,
// files, network, CPU), plus serve: a static file server that tests run
// as a package index for the build containers. It starts in milliseconds, which keeps the
// executor's tests fast where Python would add nothing.
//
// Like an interpreter, it takes a script path first: the script's words
// are the subcommand and its arguments, and the run's Args follow. So the
// executor runs it exactly as it runs python3 (/helper /rgrid/input/x a b).
// Without a script path the arguments are the subcommand directly.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && strings.HasPrefix(args[0], "/") {
		script, err := os.ReadFile(args[0])
		if err != nil {
			fail("read script: %v", err)
		}
		args = append(strings.Fields(string(script)), args[1:]...)
	}
	if len(args) == 0 {
		fail("usage: helper [SCRIPT] SUBCOMMAND [ARG...]")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "echo-lines":
		for i := range intArg(args, 0) {
			fmt.Fprintf(os.Stdout, "out %d\n", i)
			fmt.Fprintf(os.Stderr, "err %d\n", i)
		}
	case "exit":
		os.Exit(intArg(args, 0))
	case "sleep":
		fmt.Println("sleeping") // lets a test know the run is up before it acts
		time.Sleep(time.Duration(intArg(args, 0)) * time.Second)
	case "alloc":
		alloc(intArg(args, 0), intArg(args, 1))
	case "forkbomb":
		fmt.Println("forkbomb: started")
		forkbomb(time.Now().Add(time.Duration(intArg(args, 0)) * time.Second))
	case "forkbomb-child":
		sec, _ := strconv.ParseInt(arg(args, 0), 10, 64)
		forkbomb(time.Unix(sec, 0))
	case "whoami":
		fmt.Printf("uid=%d gid=%d\n", os.Getuid(), os.Getgid())
	case "write":
		if err := os.WriteFile(arg(args, 0), []byte("x"), 0o644); err != nil {
			fail("%v", err)
		}
		fmt.Println("ok")
	case "ls":
		entries, err := os.ReadDir(arg(args, 0))
		if err != nil {
			fail("%v", err)
		}
		for _, e := range entries {
			fmt.Println(e.Name())
		}
	case "net":
		conn, err := net.DialTimeout("tcp", arg(args, 0), 2*time.Second)
		if err != nil {
			fail("%v", err)
		}
		conn.Close()
		fmt.Println("connected")
	case "busy":
		busy(time.Duration(intArg(args, 0)) * time.Second)
	case "env":
		v, ok := os.LookupEnv(arg(args, 0))
		if !ok {
			fail("%s is not set", arg(args, 0))
		}
		fmt.Println(v)
	case "serve":
		serve(arg(args, 0), arg(args, 1))
	default:
		fail("unknown subcommand %q", cmd)
	}
}

// serve serves the files under dir on addr until killed. The "serving"
// line tells a test that it listens.
func serve(dir, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fail("%v", err)
	}
	fmt.Printf("serving %s on %s\n", dir, ln.Addr())
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	fail("%v", srv.Serve(ln))
}

// alloc allocates and touches memory step by step, so that it is resident
// (counted by the memory cgroup) and the progress shows how far it got.
func alloc(totalMB, stepMB int) {
	if stepMB <= 0 {
		stepMB = totalMB
	}
	var keep [][]byte
	for got := 0; got < totalMB; got += stepMB {
		b := make([]byte, stepMB<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
		fmt.Printf("allocated %d MB\n", got+stepMB)
	}
	fmt.Printf("done, %d blocks\n", len(keep))
}

// forkbomb starts copies of itself as fast as it can until deadline, each
// doing the same, and reports how often the kernel refused. It ends by
// itself so that a broken pids limit cannot take a test machine down.
func forkbomb(deadline time.Time) {
	self, err := os.Executable()
	if err != nil {
		self = "/helper"
	}
	started, refused := 0, 0
	for time.Now().Before(deadline) {
		c := exec.Command(self, "forkbomb-child", strconv.FormatInt(deadline.Unix(), 10))
		if err := c.Start(); err != nil {
			refused++
			continue
		}
		started++
		go c.Wait() //nolint:errcheck // reaping is all we want
	}
	fmt.Printf("forkbomb: %d started, %d refused\n", started, refused)
}

// busy spins on one core for d of wall time, then prints the CPU time the
// process got, which a CPU quota bounds.
func busy(d time.Duration) {
	end := time.Now().Add(d)
	n := 0
	for time.Now().Before(end) {
		n++
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage: %v", err)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("cpu %.3f\n", cpu.Seconds())
}

func arg(args []string, i int) string {
	if i >= len(args) {
		fail("missing argument %d", i+1)
	}
	return args[i]
}

func intArg(args []string, i int) int {
	n, err := strconv.Atoi(arg(args, i))
	if err != nil {
		fail("argument %d: %v", i+1, err)
	}
	return n
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "helper: "+format+"\n", a...)
	os.Exit(1)
}
