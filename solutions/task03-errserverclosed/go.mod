module gracefulshutdown.lab/solutions/task03-errserverclosed

go 1.26
