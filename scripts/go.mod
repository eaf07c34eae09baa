module gracefulshutdown.lab/scripts

go 1.26

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/bluekeyes/go-gitdiff v0.9.0
)
