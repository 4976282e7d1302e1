module github.com/gochatter/gochatter/test/protobench

go 1.26.0

require (
	github.com/gochatter/gochatter v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.12
)

replace github.com/gochatter/gochatter => ../..
