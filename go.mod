// The lab's root module: its one package's test grades the copy it stands
// in, so that `go test ./...` at the root is the grade. Each task, the
// lab tool (scripts) and labtest are modules of their own, so ./... here is
// this package alone; the references of tasks 11 on hold no go.mod, and
// the ignore directive keeps them out of it.
module gracefulshutdown.lab

go 1.26.0

ignore ./solutions
