module gracefulshutdown.lab/task04-ticker

go 1.26

require gracefulshutdown.lab/labtest v0.0.0

require go.uber.org/goleak v1.3.0

replace gracefulshutdown.lab/labtest => ../labtest
