//! Schema definitions (RFC 7643 §7) and the built-in User, Enterprise User and
//! Group schemas.
//!
//! A [`ResourceSchema`] is what every other module consults to learn an
//! attribute's type, case-exactness, mutability and returnability. Schemas are
//! plain owned data so that a tenant can add extension schemas of its own.

use serde_json::{Value, json};

use crate::path::AttrPath;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The data type of an attribute (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

/// Who may write an attribute (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// When an attribute appears in a response (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// The scope in which an attribute's value must be unique (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition with its characteristics.
#[derive(Debug, Clone)]
pub struct AttributeDef {
    pub name: String,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: Vec<String>,
    pub reference_types: Vec<String>,
    pub description: String,
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, optional, read-write, case-insensitive attribute.
    pub fn new(name: &str, ty: AttrType) -> Self {
        AttributeDef {
            name: name.to_owned(),
            ty,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            description: String::new(),
            sub_attributes: Vec::new(),
        }
    }

    pub fn string(name: &str) -> Self {
        Self::new(name, AttrType::String)
    }

    pub fn complex(name: &str, subs: Vec<AttributeDef>) -> Self {
        let mut def = Self::new(name, AttrType::Complex);
        def.sub_attributes = subs;
        def
    }

    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    pub fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn refs(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn describe(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }

    /// The sub-attribute `name`, matched case-insensitively.
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 JSON representation served by `/Schemas`.
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "name": self.name,
            "type": self.ty.as_str(),
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability.as_str(),
            "returned": self.returned.as_str(),
            "uniqueness": self.uniqueness.as_str(),
        });
        if !self.canonical_values.is_empty() {
            out["canonicalValues"] = json!(self.canonical_values);
        }
        if !self.reference_types.is_empty() {
            out["referenceTypes"] = json!(self.reference_types);
        }
        if !self.sub_attributes.is_empty() {
            out["subAttributes"] = Value::Array(self.sub_attributes.iter().map(AttributeDef::to_json).collect());
        }
        out
    }
}

/// A schema: a URN and its attributes (RFC 7643 §7).
#[derive(Debug, Clone)]
pub struct Schema {
    pub id: String,
    pub name: String,
    pub description: String,
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The `/Schemas/{id}` representation; `base` is the SCIM base URL for `meta.location`.
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(AttributeDef::to_json).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", self.id)},
        })
    }
}

/// The attributes every resource has (RFC 7643 §3.1), outside any schema.
fn common_attributes() -> Vec<AttributeDef> {
    use Mutability::*;
    vec![
        AttributeDef::string("id")
            .case_exact()
            .mutability(ReadOnly)
            .returned(Returned::Always)
            .unique(Uniqueness::Server),
        AttributeDef::string("externalId").case_exact(),
        AttributeDef::complex(
            "meta",
            vec![
                AttributeDef::string("resourceType").case_exact().mutability(ReadOnly),
                AttributeDef::new("created", AttrType::DateTime).mutability(ReadOnly),
                AttributeDef::new("lastModified", AttrType::DateTime).mutability(ReadOnly),
                AttributeDef::new("location", AttrType::Reference).case_exact().mutability(ReadOnly),
                AttributeDef::string("version").case_exact().mutability(ReadOnly),
            ],
        )
        .mutability(ReadOnly),
    ]
}

/// The schemas that make up one resource type: its core schema plus extensions.
#[derive(Debug, Clone)]
pub struct ResourceSchema {
    /// `User` or `Group`.
    pub resource_type: String,
    /// The path segment (`Users`, `Groups`).
    pub endpoint: String,
    pub core: Schema,
    pub extensions: Vec<Schema>,
    common: Vec<AttributeDef>,
}

impl ResourceSchema {
    pub fn new(resource_type: &str, endpoint: &str, core: Schema, extensions: Vec<Schema>) -> Self {
        ResourceSchema {
            resource_type: resource_type.to_owned(),
            endpoint: endpoint.to_owned(),
            core,
            extensions,
            common: common_attributes(),
        }
    }

    /// The built-in User resource: core User plus the Enterprise User extension.
    pub fn user() -> Self {
        Self::new("User", "Users", user_schema(), vec![enterprise_user_schema()])
    }

    /// The built-in Group resource.
    pub fn group() -> Self {
        Self::new("Group", "Groups", group_schema(), Vec::new())
    }

    /// The extension schema with this URN (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions.iter().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Whether `urn` names this resource's core schema or one of its extensions.
    pub fn knows_schema(&self, urn: &str) -> bool {
        self.core.id.eq_ignore_ascii_case(urn) || self.extension(urn).is_some()
    }

    /// The extension that owns `path` when it names an extension attribute
    /// without its URN: RFC 7644 §3.10 only says such paths SHOULD carry it,
    /// and Entra ID sends a bare `manager`. Core and common attributes win.
    pub fn implied_extension(&self, path: &AttrPath) -> Option<&Schema> {
        if path.schema.is_some() || self.core_attribute(&path.attr).is_some() {
            return None;
        }
        self.extensions.iter().find(|e| e.attribute(&path.attr).is_some())
    }

    /// `path` with the URN of the extension it implies filled in (see
    /// [`ResourceSchema::implied_extension`]).
    pub fn qualify(&self, path: &AttrPath) -> AttrPath {
        match self.implied_extension(path) {
            Some(ext) => AttrPath { schema: Some(ext.id.clone()), ..path.clone() },
            None => path.clone(),
        }
    }

    /// A core-schema or common attribute by name.
    fn core_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.core.attribute(name).or_else(|| self.common.iter().find(|a| a.name.eq_ignore_ascii_case(name)))
    }

    /// The top-level attribute definition for `path`, resolving its schema URN.
    /// Attributes without a URN are looked up in the core schema, the common
    /// attributes, then the extensions.
    pub fn top_attribute(&self, path: &AttrPath) -> Option<&AttributeDef> {
        match path.schema.as_deref() {
            None => self.core_attribute(&path.attr).or_else(|| self.implied_extension(path)?.attribute(&path.attr)),
            Some(urn) if self.core.id.eq_ignore_ascii_case(urn) => self.core_attribute(&path.attr),
            Some(urn) => self.extension(urn)?.attribute(&path.attr),
        }
    }

    /// The definition of the attribute `path` points at: the sub-attribute
    /// when it has one, else the top-level attribute.
    pub fn find_attribute(&self, path: &AttrPath) -> Option<&AttributeDef> {
        let top = self.top_attribute(path)?;
        match path.sub_attr.as_deref() {
            None => Some(top),
            Some(sub) => top.sub_attribute(sub),
        }
    }

    /// The `/ResourceTypes/{name}` representation.
    pub fn resource_type_json(&self, base: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.resource_type,
            "name": self.resource_type,
            "endpoint": format!("/{}", self.endpoint),
            "description": self.core.description,
            "schema": self.core.id,
            "schemaExtensions": self.extensions.iter().map(|s| json!({"schema": s.id, "required": false})).collect::<Vec<_>>(),
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", self.resource_type)},
        })
    }
}

fn multi_valued_typed(name: &str, value_ty: AttrType, types: &[&str], description: &str) -> AttributeDef {
    AttributeDef::complex(
        name,
        vec![
            AttributeDef::new("value", value_ty),
            AttributeDef::string("display"),
            AttributeDef::string("type").canonical(types),
            AttributeDef::new("primary", AttrType::Boolean),
        ],
    )
    .multi()
    .describe(description)
}

/// RFC 7643 §4.1: the core User schema.
pub fn user_schema() -> Schema {
    use AttrType::*;
    use Mutability::*;
    let s = AttributeDef::string;
    Schema {
        id: USER_SCHEMA.to_owned(),
        name: "User".to_owned(),
        description: "User Account".to_owned(),
        attributes: vec![
            s("userName")
                .required()
                .unique(Uniqueness::Server)
                .describe("Unique identifier for the User, case-insensitive."),
            AttributeDef::complex(
                "name",
                vec![
                    s("formatted"),
                    s("familyName"),
                    s("givenName"),
                    s("middleName"),
                    s("honorificPrefix"),
                    s("honorificSuffix"),
                ],
            )
            .describe("The components of the user's real name."),
            s("displayName"),
            s("nickName"),
            AttributeDef::new("profileUrl", Reference).refs(&["external"]),
            s("title"),
            s("userType"),
            s("preferredLanguage"),
            s("locale"),
            s("timezone"),
            AttributeDef::new("active", Boolean),
            s("password").mutability(WriteOnly).returned(Returned::Never),
            multi_valued_typed("emails", String, &["work", "home", "other"], "Email addresses for the user."),
            multi_valued_typed(
                "phoneNumbers",
                String,
                &["work", "home", "mobile", "fax", "pager", "other"],
                "Phone numbers for the User.",
            ),
            multi_valued_typed(
                "ims",
                String,
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
                "Instant messaging addresses for the User.",
            ),
            multi_valued_typed("photos", Reference, &["photo", "thumbnail"], "URLs of photos of the User."),
            AttributeDef::complex(
                "addresses",
                vec![
                    s("formatted"),
                    s("streetAddress"),
                    s("locality"),
                    s("region"),
                    s("postalCode"),
                    s("country"),
                    s("type").canonical(&["work", "home", "other"]),
                    AttributeDef::new("primary", Boolean),
                ],
            )
            .multi(),
            AttributeDef::complex(
                "groups",
                vec![
                    s("value").mutability(ReadOnly),
                    AttributeDef::new("$ref", Reference).refs(&["User", "Group"]).mutability(ReadOnly),
                    s("display").mutability(ReadOnly),
                    s("type").canonical(&["direct", "indirect"]).mutability(ReadOnly),
                ],
            )
            .multi()
            .mutability(ReadOnly)
            .describe("Groups the user belongs to, maintained by the service provider."),
            multi_valued_typed("entitlements", String, &[], "Entitlements of the User."),
            multi_valued_typed("roles", String, &[], "Roles of the User."),
            multi_valued_typed("x509Certificates", Binary, &[], "X.509 certificates of the User."),
        ],
    }
}

/// RFC 7643 §4.3: the Enterprise User extension.
pub fn enterprise_user_schema() -> Schema {
    let s = AttributeDef::string;
    Schema {
        id: ENTERPRISE_USER_SCHEMA.to_owned(),
        name: "EnterpriseUser".to_owned(),
        description: "Enterprise User".to_owned(),
        attributes: vec![
            s("employeeNumber"),
            s("costCenter"),
            s("organization"),
            s("division"),
            s("department"),
            AttributeDef::complex(
                "manager",
                vec![
                    s("value"),
                    AttributeDef::new("$ref", AttrType::Reference).refs(&["User"]),
                    s("displayName").mutability(Mutability::ReadOnly),
                ],
            ),
        ],
    }
}

/// RFC 7643 §4.2: the core Group schema.
pub fn group_schema() -> Schema {
    let s = AttributeDef::string;
    Schema {
        id: GROUP_SCHEMA.to_owned(),
        name: "Group".to_owned(),
        description: "Group".to_owned(),
        attributes: vec![
            s("displayName").required().unique(Uniqueness::Server),
            AttributeDef::complex(
                "members",
                vec![
                    s("value").mutability(Mutability::Immutable),
                    AttributeDef::new("$ref", AttrType::Reference)
                        .refs(&["User", "Group"])
                        .mutability(Mutability::Immutable),
                    s("display"),
                    s("type").canonical(&["User", "Group"]).mutability(Mutability::Immutable),
                ],
            )
            .multi()
            .returned(Returned::Default),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_core_extension_and_common_attributes() {
        let user = ResourceSchema::user();
        let p = |s: &str| AttrPath::parse(s).unwrap();
        assert_eq!(user.find_attribute(&p("USERNAME")).unwrap().name, "userName");
        assert_eq!(user.find_attribute(&p("name.givenName")).unwrap().name, "givenName");
        assert_eq!(user.find_attribute(&p("meta.lastModified")).unwrap().ty, AttrType::DateTime);
        let dept = p("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department");
        assert_eq!(user.find_attribute(&dept).unwrap().name, "department");
        assert!(user.find_attribute(&p("nosuch")).is_none());
        assert!(user.find_attribute(&p("emails.value")).is_some());
    }
}
