module gracefulshutdown.lab/task11-websocket

go 1.26.0

require (
	github.com/gorilla/websocket v1.5.3
	go.uber.org/goleak v1.3.0
	gracefulshutdown.lab/labtest v0.0.0
)

replace gracefulshutdown.lab/labtest => ../labtest
