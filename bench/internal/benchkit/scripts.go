package benchkit

// LinesPy prints argv[1] numbered lines ("line 0000000\n", 13 bytes
// each) to stdout as fast as Python can, in blocks of 10,000: the job of
// bench/logs's throughput figure and of bench/bigout.
const LinesPy = `import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
step = 10000
for b in range(0, n, step):
    out.write(b"".join(b"line %07d\n" % i for i in range(b, min(b + step, n))))
out.flush()
`
