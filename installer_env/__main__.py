from installer_env.cli import main

raise SystemExit(main())
