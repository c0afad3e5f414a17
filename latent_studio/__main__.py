from latent_studio.entry import main

raise SystemExit(main())
