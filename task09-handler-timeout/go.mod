module gracefulshutdown.lab/task09-handler-timeout

go 1.26

require gracefulshutdown.lab/labtest v0.0.0

require go.uber.org/goleak v1.3.0 // indirect

replace gracefulshutdown.lab/labtest => ../labtest
