// Starts GraphiQL with the explorer plugin against the endpoint this page came from (same origin only).
"use strict";

(function () {
  const parameters = {};
  for (const entry of window.location.search.slice(1).split("&")) {
    const eq = entry.indexOf("=");
    if (eq >= 0) {
      parameters[decodeURIComponent(entry.slice(0, eq))] = decodeURIComponent(entry.slice(eq + 1));
    }
  }

  function updateURL(data) {
    Object.assign(parameters, data);
    const search = Object.keys(parameters)
      .filter((key) => Boolean(parameters[key]))
      .map((key) => encodeURIComponent(key) + "=" + encodeURIComponent(parameters[key]))
      .join("&");
    history.replaceState(null, "", "?" + search);
  }

  const url = window.location.href.split("?")[0];
  const subscriptionUrl = new URL(url);
  subscriptionUrl.protocol = subscriptionUrl.protocol === "http:" ? "ws:" : "wss:";
  subscriptionUrl.hash = "";

  const fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl.toString() });
  const explorerPlugin = GraphiQLPluginExplorer.explorerPlugin();

  function OnestopGraphiQL() {
    const [query, setQuery] = React.useState(parameters.q || "{\n  services(first: 5) {\n    edges { node { slug title } }\n  }\n}\n");
    const [variables, setVariables] = React.useState(parameters.variables);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorerPlugin],
      query: query,
      variables: variables,
      onEditQuery: (text) => { setQuery(text); updateURL({ q: text }); },
      onEditVariables: (text) => { setVariables(text); updateURL({ variables: text }); },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      // Headers hold bearer tokens: keep them in this tab's memory, never in localStorage.
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(OnestopGraphiQL));
})();
