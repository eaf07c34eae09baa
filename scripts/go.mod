module gracefulshutdown.lab/scripts

go 1.26
