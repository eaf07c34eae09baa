module gracefulshutdown.lab/solutions/task09-handler-timeout

go 1.26
