import type { TokenCredential } from "@azure/identity";
import type { RedisBindingSettings } from "../config/settings.js";

/** Makes the credential a binding with `useEntraID` authenticates with; tests pass their own. */
export type TokenCredentialFactory = (
  settings: RedisBindingSettings,
) => TokenCredential | Promise<TokenCredential>;

/**
 * The credential Dapr would use: DefaultAzureCredential (environment,
 * workload identity, managed identity, Azure CLI, ...). With `azureClientID`
 * the user-assigned identity of that client id is used by the workload and
 * managed identity steps. Loaded on first use: @azure/identity is large, and
 * only Entra ID bindings need it.
 */
export const defaultAzureCredential: TokenCredentialFactory = async (settings) => {
  const { DefaultAzureCredential } = await import("@azure/identity");
  const clientId = settings.azureClientID;
  return new DefaultAzureCredential(
    clientId === undefined
      ? {}
      : { managedIdentityClientId: clientId, workloadIdentityClientId: clientId },
  );
};
