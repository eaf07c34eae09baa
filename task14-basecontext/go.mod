module gracefulshutdown.lab/task14-basecontext

go 1.26.0

require gracefulshutdown.lab/labtest v0.0.0

require go.uber.org/goleak v1.3.0 // indirect

replace gracefulshutdown.lab/labtest => ../labtest
