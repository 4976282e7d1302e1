module github.com/gochatter/gochatter

go 1.26.8

require go.uber.org/goleak v1.3.0

require (
	github.com/google/go-cmp v0.7.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
)
