module github.com/govs/govs

go 1.26
