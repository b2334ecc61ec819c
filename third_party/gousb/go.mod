module github.com/google/gousb

go 1.17
