module gracefulshutdown.lab/task18-goleak

go 1.26.0

require gracefulshutdown.lab/labtest v0.0.0

require go.uber.org/goleak v1.3.0

replace gracefulshutdown.lab/labtest => ../labtest
