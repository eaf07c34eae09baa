module gracefulshutdown.lab/task10-integration-test

go 1.26

require go.uber.org/goleak v1.3.0
