module gracefulshutdown.lab/solutions/task01-ctrlc

go 1.26
