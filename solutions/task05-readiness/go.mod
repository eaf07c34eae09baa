module gracefulshutdown.lab/solutions/task05-readiness

go 1.26
