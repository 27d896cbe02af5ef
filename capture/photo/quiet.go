package photo

import (
	golog "github.com/dsoprea/go-logging"
)

// goExifLogNouns are the logger names go-exif v3.0.1 registers. Some of its
// messages quote tag values (an unterminated ASCII value is logged whole), so
// none of them may ever reach a log.
var goExifLogNouns = []string{
	"exif.exif", "exif.ifd_builder", "exif.ifd_enumerate", "exif.ifd_tag_entry",
	"exif.tags", "exif.type", "exif.type_encode", "exif.utility",
	"exifcommon.ifd", "exifcommon.parser", "exifundefined.exif_9286_user_comment",
	"main.main",
}

// init keeps go-logging (the logger go-exif uses) silent whatever the
// environment says. go-logging prints nothing until an adapter is
// registered, but it reads LogDefaultAdapterName, LogLevelName and
// LogExcludeBypassLevelName from the environment at start-up: a default
// adapter name with no such adapter makes every go-exif call panic, and an
// adapter registered by any other package would print go-exif's messages.
// Here the configuration is replaced by a fixed one (error level, no
// bypass), the default adapter is cleared, and go-exif's loggers are
// excluded by name.
func init() {
	cfg := golog.NewStaticConfigurationProvider()
	cfg.SetLevelName(golog.LevelNameError)
	cfg.SetFormat("{{.Message}}")
	golog.LoadConfiguration(cfg)
	golog.SetDefaultAdapterName("")
	for _, noun := range goExifLogNouns {
		golog.AddExcludeFilter(noun)
	}
}
