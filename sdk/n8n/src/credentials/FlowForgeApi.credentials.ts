/** The FlowForge credential: the gateway's URL and an API key (or a JWT), checked against GetIdentity. */
export class FlowForgeApi {
  name = "flowForgeApi";
  displayName = "FlowForge API";
  documentationUrl = "https://github.com/flowforge/flowforge#keys-scopes-and-tiers";
  properties = [
    {
      displayName: "Gateway URL",
      name: "url",
      type: "string",
      default: "http://127.0.0.1:8080",
      description: "Where the FlowForge gateway answers",
    },
    {
      displayName: "API Key",
      name: "apiKey",
      type: "string",
      typeOptions: { password: true },
      default: "",
      description: "A FlowForge API key (ffk_…) or a JWT your identity provider issued",
    },
  ];
  authenticate = {
    type: "generic",
    properties: { headers: { Authorization: "=Bearer {{$credentials.apiKey}}" } },
  };
  test = {
    request: { baseURL: "={{$credentials.url.replace(/\\/$/, '')}}", url: "/api/v1/account/identity" },
  };
}
