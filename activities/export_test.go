package activities

// ActivityRunner is activityRunner for the tests of package activities_test.
var ActivityRunner = activityRunner
