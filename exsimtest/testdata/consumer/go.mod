// A project of its own that uses exsim from its tests, as another
// repository would. exsimtest's TestSeparateModule copies it into a
// temporary directory, points the replace directive at this checkout and
// runs `go test` there.
module example.com/consumer

go 1.26.8

require github.com/exsim/exsim v0.0.0-00010101000000-000000000000

replace github.com/exsim/exsim => ../../..
