module gracefulshutdown.lab/solutions/task04-ticker

go 1.26
