module assay.dev/local/pause

go 1.24
