package workdir

const stampsHaveCtime = true
