/** The services the gateway implements itself, beside every capability's, which it forwards. */
import { AccountService } from "#gen/flowforge/account/v1/account_pb.js";
import { AdminService } from "#gen/flowforge/admin/v1/admin_pb.js";
import { BlobService } from "#gen/flowforge/blob/v1/blob_pb.js";

export const gatewayServices = [AdminService, AccountService, BlobService] as const;
