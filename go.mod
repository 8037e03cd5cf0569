module github.com/ganlink/ganlink

go 1.26.8
