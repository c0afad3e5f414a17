from latent_studio.cli import main

raise SystemExit(main())
