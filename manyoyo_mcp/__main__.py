from manyoyo_mcp.cli import main

raise SystemExit(main())
