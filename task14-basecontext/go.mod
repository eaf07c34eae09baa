module gracefulshutdown.lab/task14-basecontext

go 1.26.0

require (
	go.uber.org/goleak v1.3.0
	gracefulshutdown.lab/labtest v0.0.0
)

replace gracefulshutdown.lab/labtest => ../labtest
