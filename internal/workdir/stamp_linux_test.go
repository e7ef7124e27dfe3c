package workdir

// stampsHaveCtime: a rewrite with its modification time put back is seen.
const stampsHaveCtime = true
