module gracefulshutdown.lab/scripts

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/bluekeyes/go-gitdiff v0.9.0
	github.com/fsnotify/fsnotify v1.10.1
	github.com/gorilla/websocket v1.5.3
	github.com/pmezard/go-difflib v1.0.0
	golang.org/x/mod v0.42.0
)

require golang.org/x/sys v0.13.0 // indirect

tool gracefulshutdown.lab/scripts/cmd/lab
