module gracefulshutdown.lab/solutions/task02-deadline

go 1.26
